/** How `switchboard` is run where the user is, so that a command it suggests can be pasted as it is printed. */
import { isAbsolute, join, relative, sep } from 'node:path';

/** This package's directory: this file is in its src/commands/, or dist/src/commands/ in an installed copy. */
const PACKAGE_DIR = import.meta.dirname.replace(/[\\/](?:dist[\\/])?src[\\/]commands$/, '');

/**
 * The command that runs `switchboard` from `cwd`: `npm run switchboard --` in the package's own checkout,
 * `npx switchboard` in a project that installed it, `switchboard` for a global install (its bin is on PATH).
 *
 * @example `${switchboardCommand()} send room_started`
 */
export function switchboardCommand(where: { packageDir: string; cwd: string } = { packageDir: PACKAGE_DIR, cwd: process.cwd() }): string {
  const { packageDir, cwd } = where;
  const parts = packageDir.split(sep);
  const modules = parts.indexOf('node_modules');
  if (modules === -1) {
    // A checkout: its npm script from inside it, its bin (which finds a Node new enough) from anywhere else.
    return isWithin(cwd, packageDir) ? 'npm run switchboard --' : `node ${join(packageDir, 'bin', 'switchboard.js')}`;
  }
  const project = parts.slice(0, modules).join(sep);
  if (isWithin(cwd, project)) return 'npx switchboard';
  // npx's cache of a package it fetched to run once: named by the package, whose only bin is switchboard.
  return parts.includes('_npx') ? 'npx livekit-switchboard' : 'switchboard';
}

function isWithin(dir: string, parent: string): boolean {
  const path = relative(parent, dir);
  return path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path);
}
