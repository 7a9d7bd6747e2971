/**
 * node:http's functions, taken without an ES module import: importing node:http as a module reads every export,
 * including the WebSocket, CloseEvent and MessageEvent getters, and that loads Node's fetch implementation (undici)
 * with its web streams, resident memory that nothing here uses.
 */
export const { createServer, request } = process.getBuiltinModule('node:http');
