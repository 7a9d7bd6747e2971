/** What the admin routes are given: the router passes the same options to each file of routes. */
import type { TargetGuards } from '../../engine/delivery/target-guards.ts';
import type { DeliveryWorker } from '../../engine/delivery/worker.ts';
import type { RulesStatus } from '../../engine/rules-holder.ts';
import type { RuleSet } from '../../rules/types.ts';
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { AdminTokens } from './auth.ts';

export interface AdminRouteOptions extends AdminTokens {
  store: Store;
  currentRules: () => RuleSet;
  rulesStatus: () => RulesStatus;
  log: Logger;
  /** Woken after a replay or an enable, so the change runs now rather than at the next poll. */
  worker: Pick<DeliveryWorker, 'wake'>;
  /** This process's circuits and rate limits, shown beside the targets' stored switches. */
  guards: Pick<TargetGuards, 'snapshot' | 'reset'>;
}
