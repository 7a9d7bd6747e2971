import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { switchboardCommand } from '../../src/commands/invocation.ts';

describe('switchboardCommand: how the user runs switchboard where they are', () => {
  it('is the npm script inside the package’s own checkout, its bin from elsewhere', () => {
    const packageDir = '/home/dev/livekit-switchboard';
    expect(switchboardCommand({ packageDir, cwd: packageDir })).toBe('npm run switchboard --');
    expect(switchboardCommand({ packageDir, cwd: join(packageDir, 'rules') })).toBe('npm run switchboard --');
    expect(switchboardCommand({ packageDir, cwd: '/home/dev/livekit-switchboard-demo' })).toBe(
      'node /home/dev/livekit-switchboard/bin/switchboard.js',
    );
  });

  it('is npx switchboard in a project that installed the package', () => {
    const packageDir = '/srv/my-automations/node_modules/livekit-switchboard';
    expect(switchboardCommand({ packageDir, cwd: '/srv/my-automations' })).toBe('npx switchboard');
    expect(switchboardCommand({ packageDir, cwd: '/srv/my-automations/rules' })).toBe('npx switchboard');
  });

  it('is the bin on PATH for a global install, and the package for npx to fetch when npx ran it once', () => {
    expect(switchboardCommand({ packageDir: '/usr/local/lib/node_modules/livekit-switchboard', cwd: '/srv/app' })).toBe('switchboard');
    expect(switchboardCommand({ packageDir: '/home/dev/.npm/_npx/4f2a/node_modules/livekit-switchboard', cwd: '/srv/app' })).toBe(
      'npx livekit-switchboard',
    );
  });

  it('finds the checkout it runs from', () => {
    expect(switchboardCommand()).toBe('npm run switchboard --');
  });
});
