/**
 * Preloaded into a child process (`NODE_OPTIONS=--import=<this file's URL>`): appends the name of each package the
 * process resolves from node_modules, once, to the file LOADED_PACKAGES_FILE names, as it happens, so the list
 * holds what was loaded up to any moment, static and dynamic imports and require() alike. When the process exits,
 * the packages bundled in Node that it loaded follow, as `node:<name>` (`node:undici`, Node's fetch).
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.LOADED_PACKAGES_FILE;
if (file === undefined) throw new Error('LOADED_PACKAGES_FILE names no file');
const PACKAGE = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/;
const seen = new Set<string>();

const BUNDLED = /^NativeModule internal\/deps\/([^/]+)\//;
process.once('exit', () => {
  // Node's list of the modules of its own it has loaded; undocumented, so not in @types/node.
  const { moduleLoadList } = process as unknown as { moduleLoadList: string[] };
  const bundled = new Set(moduleLoadList.map((entry) => BUNDLED.exec(entry)?.[1]).filter((name) => name !== undefined));
  for (const name of bundled) appendFileSync(file, `node:${name}\n`);
});

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
