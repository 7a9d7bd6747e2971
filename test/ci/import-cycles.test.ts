import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findImportCycles } from '../../.ci/import-cycles.ts';

describe('the import cycle check', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function tree(files: Record<string, string>): string {
    dir = mkdtempSync(join(tmpdir(), 'import-cycles-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }

  it('names each cycle once, through type-only imports, re-exports and sub-folders', () => {
    const root = tree({
      'a.ts': "import type { B } from './b.ts';\nexport const a = 1;\n",
      'b.ts': "export { a } from './a.ts';\nexport type B = number;\n",
      'c/c.ts': "import {\n  d,\n} from '../d.ts';\n",
      'd.ts': "import './c/c.ts';\nexport const d = 1;\n",
    });
    expect(findImportCycles(root, root)).toEqual([
      ['a.ts', 'b.ts', 'a.ts'],
      ['c/c.ts', 'd.ts', 'c/c.ts'],
    ]);
  });

  it('finds none when imports point one way, and ignores examples in comments and dynamic imports', () => {
    const root = tree({
      'a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'b.ts': "/**\n * import { a } from './a.ts';\n */\nexport const b = 1;\nexport const later = () => import('./a.ts');\n",
    });
    expect(findImportCycles(root, root)).toEqual([]);
  });
});
