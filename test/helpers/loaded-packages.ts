/**
 * Preloaded into a child process (`NODE_OPTIONS=--import=<this file's URL>`): appends the name of each package the
 * process resolves from node_modules, once, to the file LOADED_PACKAGES_FILE names, as it happens, so the list
 * holds what was loaded up to any moment, static and dynamic imports and require() alike.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.LOADED_PACKAGES_FILE;
if (file === undefined) throw new Error('LOADED_PACKAGES_FILE names no file');
const PACKAGE = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/;
const seen = new Set<string>();

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    const name = PACKAGE.exec(resolved.url)?.[1];
    if (name !== undefined && !seen.has(name)) {
      seen.add(name);
      appendFileSync(file, `${name}\n`);
    }
    return resolved;
  },
});
