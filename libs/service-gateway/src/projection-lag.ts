import { Inject, Injectable } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { Topics } from '@flotilla/contracts';
import { MessageBus, partitionFor } from '@flotilla/messaging';
import { BUS } from '@flotilla/platform';
import { PROJECTOR_GROUP } from './projector';

const log = createLogger({ service: 'gateway', component: 'projection-lag' });

/**
 * How current the read model is for one workflow, as `GET /v1/workflows/:id` reports it.
 * `current`: the projector had applied every event of the workflow's log partition when measured,
 * so the status shown is the workflow's status as of `measuredAt`. `behind`: `pendingEvents` events
 * of that partition (this workflow's or others') were not applied yet — the status may be stale.
 * `unknown`: the lag could not be measured (the broker did not answer); the status may be stale.
 */
export interface ProjectionFreshness {
  state: 'current' | 'behind' | 'unknown';
  pendingEvents?: number;
  measuredAt?: string;
}

/** A measurement is reused this long: a poll loop of many clients costs the broker one lookup a second. */
export const LAG_MAX_AGE_MS = 1_000;

interface Measurement {
  at: number;
  /** Per partition of the workflow-events topic: end offset − the projector's committed offset. */
  pending: bigint[];
}

/**
 * The workflow-view projector's lag per partition, from the log's end offsets and the projector
 * group's committed offsets (the same figures on every replica). Workflow events are keyed by
 * workflow id, so one partition's lag bounds how far behind one workflow's view can be. Committed
 * offsets trail what was applied by up to a commit interval, so the lag errs high, never low.
 */
@Injectable()
export class ProjectionLag {
  private last?: Measurement;
  private measuring?: Promise<Measurement>;

  constructor(@Inject(BUS) private readonly bus: MessageBus) {}

  /** How current the view of `workflowId` is; never throws (a failed measurement is `unknown`). */
  async of(workflowId: string): Promise<ProjectionFreshness> {
    let m: Measurement;
    try {
      m = await this.measurement();
    } catch (err) {
      log.warn('measuring the projector lag failed; views are reported as of unknown freshness', { err });
      return { state: 'unknown' };
    }
    if (m.pending.length === 0) return { state: 'unknown' };
    const pending = Number(m.pending[partitionFor(workflowId, m.pending.length)] ?? 0n);
    return { state: pending > 0 ? 'behind' : 'current', pendingEvents: pending, measuredAt: new Date(m.at).toISOString() };
  }

  private measurement(): Promise<Measurement> {
    if (this.last && Date.now() - this.last.at < LAG_MAX_AGE_MS) return Promise.resolve(this.last);
    this.measuring ??= this.measure().then((m) => {
      this.last = m;
      return m;
    }).finally(() => {
      this.measuring = undefined;
    });
    return this.measuring;
  }

  private async measure(): Promise<Measurement> {
    const at = Date.now();
    const topic = Topics.workflowEvents.name;
    const [ends, committed] = await Promise.all([this.bus.endOffsets(topic), this.bus.committedOffsets(PROJECTOR_GROUP, topic)]);
    const pending: bigint[] = [];
    for (const [partition, end] of ends) {
      // A partition the group never committed counts from 0: nothing of it is applied yet.
      const done = committed.get(partition) ?? 0n;
      pending[partition] = end > done ? end - done : 0n;
    }
    return { at, pending };
  }
}
