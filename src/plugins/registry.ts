/**
 * Loads the plugins in PLUGINS_DIR: every `.ts`, `.js` or `.mjs` file whose default export follows the plugin
 * contract. Built-in plugins live there as ordinary files, so a user's plugin is loaded the same way.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SwitchboardError } from '../errors.ts';
import type { PluginDefinition } from './contract.ts';
import { paramsValidator, type PluginSpec, type PluginSpecs } from './params.ts';

export interface LoadedPlugin {
  definition: PluginDefinition;
  file: string;
  spec: PluginSpec;
}

export interface PluginRegistry {
  get(name: string): LoadedPlugin | undefined;
  list(): LoadedPlugin[];
  /** What the rule loader needs: each plugin's params schema and default mode. */
  specs(): PluginSpecs;
}

const PLUGIN_FILE = /^[^._].*\.(ts|js|mjs)$/;
const NOT_PLUGIN_FILE = /\.(test|spec)\.(ts|js|mjs)$|\.d\.ts$/;
const PLUGIN_NAME = /^[a-z][a-z0-9_-]*$/;

export async function loadPlugins(dir: string): Promise<PluginRegistry> {
  const absoluteDir = resolve(dir);
  if (!isDirectory(absoluteDir)) {
    throw new SwitchboardError('E_PLUGIN_INVALID', `PLUGINS_DIR ${dir} does not exist or is not a directory`);
  }
  const files = readdirSync(absoluteDir)
    .filter((name) => PLUGIN_FILE.test(name) && !NOT_PLUGIN_FILE.test(name))
    .sort()
    .map((name) => join(absoluteDir, name));

  const plugins = new Map<string, LoadedPlugin>();
  for (const file of files) {
    const definition = await importPlugin(file);
    const existing = plugins.get(definition.name);
    if (existing) {
      throw new SwitchboardError(
        'E_PLUGIN_INVALID',
        `${file}: plugin name "${definition.name}" is already taken by ${existing.file}`,
      );
    }
    plugins.set(definition.name, loaded(definition, file));
  }
  return registryOf(plugins);
}

/** A registry from definitions in memory, for tools and tests that do not load a directory. */
export function registryFromDefinitions(definitions: PluginDefinition[]): PluginRegistry {
  const plugins = new Map<string, LoadedPlugin>();
  for (const definition of definitions) {
    const file = `<${definition.name}>`;
    checkDefinition(definition, file);
    plugins.set(definition.name, loaded(definition, file));
  }
  return registryOf(plugins);
}

function registryOf(plugins: Map<string, LoadedPlugin>): PluginRegistry {
  const specs: PluginSpecs = new Map([...plugins.values()].map(({ spec }) => [spec.name, spec]));
  return {
    get: (name) => plugins.get(name),
    list: () => [...plugins.values()],
    specs: () => specs,
  };
}

async function importPlugin(file: string): Promise<PluginDefinition> {
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new SwitchboardError('E_PLUGIN_INVALID', `${file}: could not load plugin: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const definition = module.default;
  checkDefinition(definition, file);
  return definition;
}

function checkDefinition(definition: unknown, file: string): asserts definition is PluginDefinition {
  const fail = (problem: string): never => {
    throw new SwitchboardError('E_PLUGIN_INVALID', `${file}: ${problem}`);
  };
  if (typeof definition !== 'object' || definition === null) {
    fail('the default export must be a plugin: export default definePlugin({ name, description, params, run })');
  }
  const plugin = definition as Record<string, unknown>;
  if (typeof plugin.name !== 'string' || !PLUGIN_NAME.test(plugin.name)) {
    fail(`"name" must be a lowercase identifier matching ${PLUGIN_NAME}`);
  }
  if (typeof plugin.description !== 'string' || plugin.description === '') fail('"description" must be a non-empty string');
  if (typeof plugin.params !== 'object' || plugin.params === null) fail('"params" must be a JSON Schema object');
  if (plugin.inline !== undefined && typeof plugin.inline !== 'boolean') fail('"inline" must be true or false');
  if (plugin.modes !== undefined) {
    const modes = plugin.modes as unknown[];
    if (!Array.isArray(modes) || modes.length === 0 || !modes.every((mode) => mode === 'inline' || mode === 'async')) {
      fail('"modes" must be a non-empty list of "inline" and "async"');
    }
    if (!modes.includes(plugin.inline === true ? 'inline' : 'async')) {
      fail(`"modes" must include the default mode, ${plugin.inline === true ? 'inline' : 'async'} (see "inline")`);
    }
  }
  if (plugin.prepare !== undefined && typeof plugin.prepare !== 'function') fail('"prepare" must be a function (params, ctx) => params');
  if (typeof plugin.run !== 'function') fail('"run" must be a function (params, ctx) => result');
}

/** Compiles the params schema now, so a broken one is reported against its file at start-up. */
function loaded(definition: PluginDefinition, file: string): LoadedPlugin {
  const spec: PluginSpec = {
    name: definition.name,
    params: definition.params,
    inline: definition.inline ?? false,
    modes: definition.modes,
    check: definition.check?.bind(definition),
  };
  try {
    paramsValidator(spec);
  } catch (error) {
    throw new SwitchboardError('E_PLUGIN_INVALID', `${file}: ${(error as Error).message}`, { cause: error });
  }
  return { definition, file, spec };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
