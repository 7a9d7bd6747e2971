/**
 * `livekit-switchboard/plugin`: everything a plugin may import, built-in or a user's alike. A plugin is a file in
 * PLUGINS_DIR whose default export is `definePlugin({...})` (or the same plain object); it uses only what this
 * module exports and never reaches into the engine. When a plugin needs more, this module gains it for every plugin.
 *
 * @example
 * import { definePlugin, PermanentError } from 'livekit-switchboard/plugin';
 * export default definePlugin({ name: 'announce', description: '…', params: { type: 'object' }, run(params, ctx) {} });
 */
export * from './contract.ts';
export { DURATION_PATTERN, durationMs, parseDurationMs } from '../duration.ts';
export { isTemplated } from './templated.ts';

// Calling a web service as the built-in http and billing plugins do: destinations held to the rule's hosts, one
// attempt on keep-alive connections within the plugin's timeout and the engine's deadline, answers turned into
// the contract's errors.
export { checkTimeout, CLIENT_HEADERS, HEADER_NAME, TIMEOUT_PARAM, timeoutMs, USER_AGENT } from './http-client/params.ts';
export { failureFor, type Answer } from './http-client/response.ts';
export { sendRequest, type Limits, type OutgoingRequest } from './http-client/send.ts';
export { checkDestination, destination } from './http-client/url-policy.ts';
