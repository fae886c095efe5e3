export declare const ADDR: {
  readonly client4: string;
  readonly proxyFront4: string;
  readonly proxyBack4: string;
  readonly backend4: string;
  readonly client6: string;
  readonly proxyFront6: string;
  readonly proxyBack6: string;
  readonly backend6: string;
};

export interface Topology {
  /** The three namespaces' names. */
  client: string;
  proxy: string;
  backend: string;
  /** Removes the proxy's policy routing (the misconfiguration transparent mode must name). */
  withoutPolicyRouting(): void;
  addPolicyRouting(): void;
  /**
   * Replaces the `iif` rule with the README's nftables alternative (packets of transparent sockets
   * marked, the mark routed locally). Returns what puts the `iif` rule back.
   */
  useNftables(): () => void;
  /**
   * The rule for a backend on the proxy's own host, listening on `address`:`port` (TCP unless
   * `protocol` says udp): its replies to clients' addresses are delivered locally. Returns what
   * removes it again.
   */
  routeLocalBackend(address: string, port: number, protocol?: 'tcp' | 'udp'): () => void;
  /** The /etc/hosts that what runs in the proxy's namespace (through `ip netns exec`) reads. */
  hostsInProxy(text: string): void;
  /** Deletes the namespaces (and with them every interface and process-free route). */
  remove(): void;
}

/** Throws one clear line when namespaces cannot be made here (no root, no iproute2). */
export declare function createTopology(): Topology;
