/**
 * The PROXY protocol versions a route can ask for (haproxy's doc/proxy-protocol.txt). The header
 * itself is built by the native engine (native/src/core/proxy-header.cc), the one encoder.
 */
export type ProxyProtocolVersion = 'v1' | 'v2';
export const PROXY_PROTOCOL_VERSIONS: readonly ProxyProtocolVersion[] = ['v1', 'v2'];
