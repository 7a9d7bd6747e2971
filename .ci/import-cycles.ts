/**
 * Fails when modules under a folder import each other in a circle (`node .ci/import-cycles.ts src`): a cycle means
 * two modules are one unit in two files, and it makes load order decide what is initialised. Follows the relative
 * specifiers of `import … from`, `import type … from`, `export … from` and `import '…'`; dynamic `import()` is left
 * out, since it loads late on purpose.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** A static import or re-export at the start of a line (a `*` before it, as in a doc comment's example, rules it out). */
const STATIC_IMPORT = /^\s*(?:import|export)\s(?:[^;'"]*?\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm;

type Graph = Map<string, string[]>;

/** Each cycle as the files along it, the first repeated at the end, named relative to `cwd`. */
export function findImportCycles(root: string, cwd = process.cwd()): string[][] {
  const graph = importGraph(resolve(root));
  const cycles = new Map<string, string[]>();
  for (const component of stronglyConnected(graph)) {
    for (const start of component) {
      const cycle = shortestCycle(graph, start, component);
      if (!cycle) continue;
      // The same cycle is found from each of its files: name it by its rotation from the least file.
      const body = cycle.slice(0, -1);
      const first = body.indexOf([...body].sort()[0]);
      const rotated = [...body.slice(first), ...body.slice(0, first)];
      cycles.set(rotated.join('\n'), [...rotated, rotated[0]].map((file) => relative(cwd, file)));
    }
  }
  return [...cycles.keys()].sort().map((key) => cycles.get(key)!);
}

function importGraph(root: string): Graph {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph: Graph = new Map();
  for (const file of files) {
    const targets = new Set<string>();
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      const target = resolveSpecifier(dirname(file), specifier, known);
      if (target) targets.add(target);
    }
    graph.set(file, [...targets]);
  }
  return graph;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(?:ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The file a relative specifier names, if it is one of ours. */
function resolveSpecifier(fromDir: string, specifier: string, known: Set<string>): string | undefined {
  const base = resolve(fromDir, specifier);
  const candidates = [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')];
  return candidates.find((candidate) => known.has(candidate));
}

/** Tarjan's algorithm: the groups of files that all reach one another (only groups that hold a cycle). */
function stronglyConnected(graph: Graph): Set<string>[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: Set<string>[] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component = new Set<string>();
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.add(member);
    } while (member !== file);
    if (component.size > 1 || graph.get(file)!.includes(file)) components.push(component);
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return components;
}

/** The shortest path from `start` back to itself inside `component` (breadth first). */
function shortestCycle(graph: Graph, start: string, component: Set<string>): string[] | undefined {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head += 1) {
    const file = queue[head];
    for (const target of graph.get(file) ?? []) {
      if (!component.has(target)) continue;
      if (target === start) {
        const path: string[] = [];
        for (let step = file; step !== start; step = cameFrom.get(step)!) path.unshift(step);
        return [start, ...path, start];
      }
      if (cameFrom.has(target)) continue;
      cameFrom.set(target, file);
      queue.push(target);
    }
  }
  return undefined;
}

if (import.meta.main) {
  const root = process.argv[2] ?? 'src';
  const cycles = findImportCycles(root);
  for (const cycle of cycles) console.error(`import cycle: ${cycle.join(' → ')}`);
  if (cycles.length > 0) {
    console.error(`${cycles.length} import cycle(s) under ${root}/: move what both sides need into a module of its own.`);
    process.exit(1);
  }
  console.log(`no import cycles under ${root}/`);
}
