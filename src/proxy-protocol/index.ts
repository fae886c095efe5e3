/** PROXY protocol v1/v2 headers: the encoder and the ends of a stream connection it describes. */
export * from './encode.js';
export { streamFlow } from './stream-flow.js';
