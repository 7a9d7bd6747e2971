/**
 * The package as users get it: `npm pack`, then `npm install <tarball>` into a project outside the checkout, which
 * runs the CLI with its own rules/, plugins/ and .env. Slow (a build and an install), so it is an integration test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_KEY, TEST_SECRET } from './helpers/tokens.ts';

const GREET_PLUGIN = `import { definePlugin, PermanentError } from 'livekit-switchboard/plugin';

interface Greeting { room: string }

// No description: it is optional.
export default definePlugin<Greeting>({
  name: 'greet',
  inline: true,
  params: { type: 'object', required: ['room'], properties: { room: { type: 'string' } } },
  async run(params) {
    if (params.room === '') throw new PermanentError('no room');
    const { appendFileSync } = await import('node:fs');
    appendFileSync('greeted.txt', params.room + '\\n');
    return { greeted: params.room };
  },
});
`;

const RULES = `rules:
  - id: greet-room
    on: room_started
    actions:
      - plugin: greet
        with: { room: "{{ room.name }}" }
      - plugin: status
        mode: inline
        with: { key: "{{ room.name }}", status: live }
`;

/** A Node older than the CLI needs, from PATH (the system's), to prove the bin's hand-off; none on a new machine. */
function olderNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(version.slice(1).split('.')[0]) < 24) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

const OLD_NODE = olderNode();

describe('the packed package installed into a project of its own', () => {
  let project: string;
  let port: number;
  const bin = () => join(project, 'node_modules', '.bin', 'switchboard');

  function run(node: string, args: string[], stdin = '') {
    const child = spawn(node, [bin(), ...args], { cwd: project, env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' }, stdio: 'pipe' });
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
      child.on('close', (code) => done({ code, stdout, stderr })),
    );
  }

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'switchboard-installed-'));
    const packed = join(project, 'packed');
    mkdirSync(packed);
    // npm pack builds dist/ in the checkout (prepack); it is removed again so the checkout runs its sources only.
    try {
      execFileSync('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: resolve('.'), stdio: 'pipe' });
    } finally {
      rmSync(resolve('dist'), { recursive: true, force: true });
    }
    const [tarball] = execFileSync('ls', [packed], { encoding: 'utf8' }).trim().split('\n');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-automations', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packed, tarball)], { cwd: project, stdio: 'pipe' });
    mkdirSync(join(project, 'rules'));
    mkdirSync(join(project, 'plugins'));
    writeFileSync(join(project, 'rules', 'greet.yaml'), RULES);
    writeFileSync(join(project, 'plugins', 'greet.ts'), GREET_PLUGIN);
    writeFileSync(join(project, 'room_started.json'), readFileSync('src/livekit/samples/room_started.json'));
  }, 600_000);
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  beforeAll(async () => {
    port = await freePort();
    writeFileSync(
      join(project, '.env'),
      `LIVEKIT_API_KEY=${TEST_KEY}\nLIVEKIT_API_SECRET=${TEST_SECRET}\nDATABASE_URL=file:switchboard.db\nHOST=127.0.0.1\nPORT=${port}\n`,
    );
  });

  it('runs on the Node it is started with when that is new enough: validate sees the user plugin beside the built-ins', async () => {
    const { code, stdout, stderr } = await run(process.execPath, ['validate']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe('./rules: 1 rules valid (1 enabled)\n');
  });

  it('ships the declarations of livekit-switchboard/plugin: the user plugin type-checks against them', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [resolve('node_modules/@types')] },
        include: ['plugins'],
      }),
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    expect(() => execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'pipe' })).not.toThrow();
    writeFileSync(join(project, 'plugins', 'wrong.ts'), "import { definePlugin } from 'livekit-switchboard/plugin';\nexport default definePlugin({ name: 1, params: {}, run() {} });\n");
    try {
      const failed = (() => {
        try {
          execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'pipe' });
          return 'no error';
        } catch (error) {
          return String((error as { stdout: Buffer }).stdout); // tsc reports on stdout
        }
      })();
      expect(failed).toMatch(/wrong\.ts.*not assignable to type 'string'/s);
    } finally {
      rmSync(join(project, 'plugins', 'wrong.ts'));
    }
  });

  it('test dry-runs an event through the user plugin', async () => {
    const { code, stdout } = await run(process.execPath, ['test', 'room_started.json']);
    expect(code).toBe(0);
    expect(stdout).toContain('greet-room');
    expect(stdout).toContain('greet');
  });

  /**
   * Starts `serve` with `node`, waits until it is ready, runs `use` (which may read what it prints), then stops it
   * with SIGTERM and waits for the port to close.
   */
  async function serving(
    node: string,
    use: (output: () => string, pid: number) => Promise<void>,
    flags: string[] = [],
    env: Record<string, string> = {},
  ): Promise<void> {
    const serve = spawn(node, [bin(), 'serve', ...flags], { cwd: project, env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env }, stdio: 'pipe' });
    let output = '';
    serve.stdout.on('data', (chunk) => (output += chunk));
    serve.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise((done) => serve.on('exit', done));
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true;
    try {
      await until(ready, () => output);
      await use(() => output, serve.pid!);
    } finally {
      serve.kill('SIGTERM');
      await exited;
    }
    expect(await ready()).toBe(false); // the server itself stopped, not only the process that started it
  }

  it('serve runs the user plugin beside the built-ins on the event send posts', async () => {
    await serving(process.execPath, async () => {
      const sent = await run(process.execPath, ['send', 'room_started', '--room', 'lobby']);
      expect(sent.code, sent.stdout + sent.stderr).toBe(0);
      expect(readFileSync(join(project, 'greeted.txt'), 'utf8')).toBe('lobby\n');
      expect(sent.stdout).toContain('live'); // the built-in status plugin's answer
    });
  });

  /** The command line and environment a process runs with now, from /proc. */
  const runningWith = (pid: number) => ({
    args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'),
    env: readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'),
  });

  it('serve runs itself, in the same process, with a 4 MiB young generation and two malloc arenas', async () => {
    await serving(process.execPath, async (_output, pid) => {
      const { args, env } = runningWith(pid);
      expect(args).toContain('--max-semi-space-size=4');
      expect(env).toContain('MALLOC_ARENA_MAX=2');
    });
  });

  it("serve keeps the operator's own young generation and arenas", async () => {
    const chosen = { NODE_OPTIONS: '--max-semi-space-size=8', MALLOC_ARENA_MAX: '4' };
    await serving(process.execPath, async (_output, pid) => {
      const { args, env } = runningWith(pid);
      expect(args.some((arg) => arg.startsWith('--max-semi-space-size'))).toBe(false);
      expect(env).toEqual(expect.arrayContaining(['NODE_OPTIONS=--max-semi-space-size=8', 'MALLOC_ARENA_MAX=4']));
    }, [], chosen);
  });

  it('serve --dev suggests sending a test event with npx switchboard, which works as printed', async () => {
    await serving(process.execPath, async (output) => {
      const banner = /^ {2}(.* send room_started --url \S+)$/m;
      await until(async () => banner.test(output()), output);
      const suggested = banner.exec(output())?.[1];
      expect(suggested).toBe(`npx switchboard send room_started --url http://127.0.0.1:${port}`);
      const [command, ...args] = suggested!.split(' ');
      const sent = await new Promise<number | null>((done) =>
        spawn(command, args, { cwd: project, env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: 'ignore' }).on('close', done),
      );
      expect(sent).toBe(0);
    }, ['--dev']);
  });

  describe.skipIf(OLD_NODE === undefined)(`on an older Node (${OLD_NODE})`, () => {
    it('hands the command to the pinned Node 24', async () => {
      const { code, stdout, stderr } = await run(OLD_NODE!, ['validate']);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toBe('./rules: 1 rules valid (1 enabled)\n');
    });

    it('serves on the pinned Node 24, with the same young generation and arenas, and passes SIGTERM on to it', async () => {
      await serving(OLD_NODE!, async (_output, pid) => {
        const [child] = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number);
        const { args, env } = runningWith(child);
        expect(args).toContain('--max-semi-space-size=4');
        expect(env).toContain('MALLOC_ARENA_MAX=2');
        const sent = await run(OLD_NODE!, ['send', 'room_started', '--room', 'hall']);
        expect(sent.code, sent.stdout + sent.stderr).toBe(0);
        expect(readFileSync(join(project, 'greeted.txt'), 'utf8')).toContain('hall\n');
      });
    });

    it('says in one line which Node it needs when the pinned one is missing', async () => {
      const pinned = join(project, 'node_modules', 'node');
      renameSync(pinned, `${pinned}.away`);
      try {
        const version = execFileSync(OLD_NODE!, ['--version'], { encoding: 'utf8' }).trim();
        const { code, stdout, stderr } = await run(OLD_NODE!, ['validate']);
        expect(code).toBe(1);
        expect(stdout).toBe('');
        expect(stderr).toBe(`switchboard needs Node.js 24 or newer (found ${version})\n`);
      } finally {
        renameSync(`${pinned}.away`, pinned);
      }
    });
  });
}, 600_000);

async function until(ready: () => Promise<boolean>, output: () => string): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    if (await ready()) return;
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error(`serve did not get ready:\n${output()}`);
}
