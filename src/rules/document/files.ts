/** Finds the YAML files of a directory tree, in a stable order. The only file-system code of this module. */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RuleSource } from './source.ts';

/** The top-level folder of the rules directory that holds rule test files rather than rules. */
export const RULE_TESTS_DIR = 'tests';

const YAML_FILE = /\.ya?ml$/;

/**
 * Reads every *.yaml / *.yml under `dir`, recursively, sorted by relative path. Hidden entries are skipped
 * (a Kubernetes ConfigMap mount keeps a second copy of every file under `..data/`); so is `skipTopLevel`.
 * Returns null when `dir` does not exist.
 */
export async function readYamlTree(dir: string, skipTopLevel?: string): Promise<RuleSource[] | null> {
  if (!(await isDirectory(dir))) return null;
  const relativePaths = (await listYamlFiles(dir, '', skipTopLevel)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    relativePaths.map(async (relative) => {
      const file = path.join(dir, relative);
      return { file, text: await readFile(file, 'utf8') };
    }),
  );
}

async function listYamlFiles(root: string, relativeDir: string, skip?: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(root, relativeDir), { withFileTypes: true })) {
    if (entry.name.startsWith('.') || (relativeDir === '' && entry.name === skip)) continue;
    const relative = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await listYamlFiles(root, relative)));
    else if (YAML_FILE.test(entry.name) && (entry.isFile() || (await isFile(path.join(root, relative))))) found.push(relative);
  }
  return found;
}

async function isDirectory(target: string): Promise<boolean> {
  return (await stat(target).catch(() => null))?.isDirectory() ?? false;
}

/** Follows a symbolic link to a file; links to directories are not followed, so no cycles. */
async function isFile(target: string): Promise<boolean> {
  return (await stat(target).catch(() => null))?.isFile() ?? false;
}
