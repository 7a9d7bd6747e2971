/**
 * Loads the plugins: the built-in ones (the package's own plugins/ directory) and then those of each PLUGINS_DIR
 * directory, every `.ts`, `.js` or `.mjs` file whose default export follows the plugin contract. Built-in plugins
 * are ordinary files, so a user's plugin is loaded the same way.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SETTINGS } from '../config.ts';
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

/** The plugins in force, which a reload of the rules replaces together with them. */
export interface ReloadablePlugins extends PluginRegistry {
  /** The PLUGINS_DIR directories, whose changes call for a reload. */
  readonly userDirs: readonly string[];
  /** Imports the plugin files afresh without putting them in force. */
  loadAgain(): Promise<PluginRegistry>;
  /** Puts a registry from loadAgain in force. */
  use(next: PluginRegistry): void;
}

const PLUGIN_FILE = /^[^._].*\.(ts|js|mjs)$/;
const NOT_PLUGIN_FILE = /\.(test|spec)\.(ts|js|mjs)$|\.d\.ts$/;
const PLUGIN_NAME = /^[a-z][a-z0-9_-]*$/;
/** Beside src/ in a checkout and beside dist/src/ in an installed copy, compiled there like the engine. */
const BUILT_IN_DIR = fileURLToPath(new URL('../../plugins', import.meta.url));

/** Each import of a changed file needs a URL of its own: Node caches modules by URL for the life of the process. */
let generation = 0;

/** The built-in plugins, then those of `pluginsDir`: PLUGINS_DIR, directories separated by `:`. */
export async function loadPlugins(pluginsDir: string): Promise<PluginRegistry> {
  return loadDirectories(userDirectories(pluginsDir), '');
}

export async function loadReloadablePlugins(pluginsDir: string): Promise<ReloadablePlugins> {
  const userDirs = userDirectories(pluginsDir);
  let current = await loadDirectories(userDirs, '');
  return {
    userDirs,
    get: (name) => current.get(name),
    list: () => current.list(),
    specs: () => current.specs(),
    loadAgain: () => loadDirectories(userDirs, `?generation=${++generation}`),
    use(next) {
      current = next;
    },
  };
}

/** PLUGINS_DIR's directories, less the built-in one (a checkout's default `./plugins` names it). */
function userDirectories(pluginsDir: string): string[] {
  const dirs = pluginsDir.split(':').filter((dir) => dir !== '');
  const present: string[] = [];
  for (const dir of dirs) {
    if (isDirectory(dir)) present.push(dir);
    // The default names a directory a project may simply not have: it has no plugins of its own then.
    else if (dir !== SETTINGS.PLUGINS_DIR) throw new SwitchboardError('E_PLUGIN_INVALID', `PLUGINS_DIR ${dir} does not exist or is not a directory`);
  }
  return [...new Set(present.map((dir) => resolve(dir)))].filter((dir) => dir !== BUILT_IN_DIR);
}

/** Built-in files never change under a running process, so only the user's are imported afresh (`query`). */
async function loadDirectories(userDirs: string[], query: string): Promise<PluginRegistry> {
  const plugins = new Map<string, LoadedPlugin>();
  for (const dir of [BUILT_IN_DIR, ...userDirs]) {
    for (const file of pluginFiles(dir)) {
      const definition = await importPlugin(file, dir === BUILT_IN_DIR ? '' : query);
      const existing = plugins.get(definition.name);
      if (existing) {
        throw new SwitchboardError(
          'E_PLUGIN_INVALID',
          `${file}: plugin name "${definition.name}" is already taken by ${existing.file}`,
        );
      }
      plugins.set(definition.name, loaded(definition, file));
    }
  }
  return registryOf(plugins);
}

function pluginFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => PLUGIN_FILE.test(name) && !NOT_PLUGIN_FILE.test(name))
    .sort()
    .map((name) => join(dir, name));
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

async function importPlugin(file: string, query: string): Promise<PluginDefinition> {
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(file).href + query);
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
  if (plugin.description !== undefined && typeof plugin.description !== 'string') fail('"description" must be a string');
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
  if (plugin.transition !== undefined && typeof plugin.transition !== 'function') {
    fail('"transition" must be a function (params) => ({ key, status, from })');
  }
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
