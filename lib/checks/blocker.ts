// What keeps a check from judging its subject, typed, so doctor can group the checks one cause
// blocks (every check etcd's silence made uncheckable is explained by one etcd finding).

/** Why a check could not judge its subject (error), or judges it only as a consequence (drift). */
export type Blocker =
  /** etcd did not answer: nothing that depends on the leases or the config is known */
  | { readonly kind: 'etcd'; readonly error: string; readonly errorKind?: string }
  /** etcd answered, but holds no config flannel can use: flanneld does nothing, so neither can we */
  | { readonly kind: 'config'; readonly why: 'missing' | 'invalid' }
  /** an observation failed (a command, a parse): `what` names it */
  | { readonly kind: 'observation'; readonly what: string; readonly error: string }
  /** the interface the node is configured with is not on this host */
  | { readonly kind: 'iface'; readonly iface: string };
