import type { MachineAction } from "../defender/schemas.js";

/** A state another replica read, and how long ago on the shared clock. */
export interface SharedState {
  action: MachineAction;
  ageMs: number;
}

/**
 * One poller per tenant across replicas. The leader reads the actions every replica wants read
 * (those its sessions hold or its callers follow) in as few list calls as one process would, and
 * writes each state it reads to a shared cache; the other replicas read that cache instead of the
 * API. The leader is whoever holds a lease, taken over when its replica dies or loses Redis.
 */
export interface SharedPolling {
  /** True while this replica certainly leads. */
  isLeader(): boolean;
  /** Called with true when this replica starts leading, false when it stops. */
  onLeadership(listener: (leading: boolean) => void): void;
  /**
   * The actions this replica needs read, and those of them a caller waits on (the leader then keeps
   * the poll interval rather than the idle one). Each lasts a while unless said again.
   */
  want(ids: readonly string[], followed: readonly string[]): Promise<void>;
  /** For the leader: every replica's wanted actions, and whether a caller anywhere waits on one. */
  wanted(): Promise<{ ids: string[]; followed: boolean }>;
  /** For the leader: the states it just read (final ones are no longer wanted), and actions the API no longer knows. */
  publish(actions: readonly MachineAction[], gone: readonly string[]): Promise<void>;
  /** The cached states of `ids` (those the cache has). */
  read(ids: readonly string[]): Promise<SharedState[]>;
}
