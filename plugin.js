// `livekit-switchboard/plugin` (see src/plugins/index.ts). Node strips types from a checkout's sources but not from
// files under node_modules, so an installed copy serves the compiled contract from dist/. One copy per process
// either way, so a plugin's PermanentError is the engine's.
const installed = import.meta.url.includes('/node_modules/');
const contract = await import(installed ? './dist/src/plugins/index.js' : './src/plugins/index.ts');

export const {
  definePlugin,
  PermanentError,
  RetryableError,
  DURATION_PATTERN,
  durationMs,
  parseDurationMs,
  isTemplated,
  checkTimeout,
  CLIENT_HEADERS,
  HEADER_NAME,
  TIMEOUT_PARAM,
  timeoutMs,
  USER_AGENT,
  failureFor,
  sendRequest,
  checkDestination,
  destination,
} = contract;
