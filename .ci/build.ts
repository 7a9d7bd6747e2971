/**
 * Builds the package's JavaScript into dist/ (`npm run build`, run by `npm pack` and `npm publish`): Node will not
 * strip types from files under node_modules, so an installed copy runs compiled sources. tsc emits the code and the
 * rules schema, and the declarations of `livekit-switchboard/plugin` for plugins written in TypeScript; the files
 * the code reads at run time are copied beside it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const ASSETS = ['src/ui/assets', 'src/livekit/samples'];

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.types.json']) {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, project)], { stdio: 'inherit' });
}
for (const dir of ASSETS) cpSync(join(root, dir), join(root, 'dist', dir), { recursive: true });
