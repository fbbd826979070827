import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Principal } from '@flotilla/auth';
import { FlotillaConfig } from '@flotilla/config';
import { Messages, Topics } from '@flotilla/contracts';
import { createCounterStore, ManagedCounterStore, WorkflowViewStore } from '@flotilla/memory';
import { MessageBus, outgoing } from '@flotilla/messaging';
import { BUS, CONFIG } from '@flotilla/platform';
import { WorkflowState } from '@flotilla/workflow';
import { AuditTrail } from './audit-trail';
import { VIEW_STORE } from './tokens';
import { foldStored } from './workflow-view';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * How long an answer's claim holds. Long enough for the answer to reach the read model (after which
 * it shows there as answered); short enough that an answer claimed by a gateway that died before
 * publishing it can be given again a minute later, well before the question expires.
 */
const CLAIM_TTL_MS = 60_000;

/**
 * How long to wait for the read model to show a question the user may already have seen live (the
 * chat stream is fed by the event topic, the read model by a projector a moment behind it).
 */
const PROJECTION_GRACE_MS = 2_000;
const PROJECTION_POLL_MS = 100;

/** Why an answer was not accepted: each maps to one HTTP status and one chat error code. */
export type ConfirmationRefusal =
  /** No such workflow for this tenant (or this signed-in user): 404. */
  | 'NOT_FOUND'
  /** The workflow is not waiting for a confirmation (never asked, or it ended): 409. */
  | 'NOT_AWAITING_CONFIRMATION'
  /** The question was answered already — by this answer's twin or another one: 409. */
  | 'ALREADY_ANSWERED';

/** An answer the gateway will not pass on; retrying the same answer cannot help. */
export class ConfirmationRefused extends Error {
  constructor(readonly code: ConfirmationRefusal, message: string, readonly status?: string) {
    super(message);
  }
}

/** What an accepted answer set in motion. */
export interface ConfirmationAccepted {
  workflowId: string;
  stepId: string;
  approve: boolean;
  status: 'confirming' | 'declining';
  /** What was approved or declined, as it was put to the user. */
  summary: string;
}

/**
 * The user's answer to a side-effecting step awaiting confirmation, for REST and chat alike: checked
 * against the read model (tenant, user, a question open), claimed once in the shared counter store
 * (so a second answer gets 409 on any gateway replica, however fast it follows), then published as a
 * `ConfirmStep` command on the workflow's partition of the commands topic — the coordinator appends
 * `ConfirmationGiven` or `ConfirmationDeclined` (docs/adr/0012) — and audited.
 */
@Injectable()
export class Confirmations implements BeforeApplicationShutdown {
  private readonly claims: ManagedCounterStore;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(VIEW_STORE) private readonly views: WorkflowViewStore,
    @Inject(CONFIG) config: FlotillaConfig,
    private readonly audit: AuditTrail,
  ) {
    this.claims = createCounterStore(config);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.claims.close();
  }

  /** Passes on `principal`'s answer for `workflowId` of `tenantId`, or refuses it (ConfirmationRefused). */
  async answer(principal: Principal, tenantId: string, workflowId: string, approve: boolean): Promise<ConfirmationAccepted> {
    let state = await this.load(tenantId, workflowId, principal);
    const deadline = Date.now() + PROJECTION_GRACE_MS;
    while (state.status === 'running' && !awaitingStep(state) && !answered(state) && Date.now() < deadline) {
      await sleep(PROJECTION_POLL_MS);
      state = await this.load(tenantId, workflowId, principal);
    }
    const step = awaitingStep(state);
    if (!step?.awaiting) {
      if (answered(state)) throw new ConfirmationRefused('ALREADY_ANSWERED', `workflow ${workflowId}'s question was already answered`, state.status);
      throw new ConfirmationRefused('NOT_AWAITING_CONFIRMATION', `workflow ${workflowId} is not waiting for a confirmation (it is ${state.status})`, state.status);
    }
    const key = `confirm:${tenantId}:${workflowId}:${step.id}`;
    if (await this.claims.add(key, 1, CLAIM_TTL_MS) > 1) {
      throw new ConfirmationRefused('ALREADY_ANSWERED', `workflow ${workflowId}'s question was already answered`, state.status);
    }
    const requestedBy = principal.subject;
    try {
      await this.bus.publish([outgoing(Topics.workflowCommands, Messages.ConfirmStep, workflowId, {
        workflowId, tenantId, stepId: step.id, approve, requestedBy, requestedAt: new Date().toISOString(),
      }, { tenantId, workflowId })]);
    } catch (err) {
      // Not passed on: give the claim back, so the same answer can be given again.
      await this.claims.add(key, -1, CLAIM_TTL_MS).catch(() => undefined);
      throw err;
    }
    await this.audit.record({
      tenantId, actor: requestedBy, action: approve ? 'workflow.step-confirmed' : 'workflow.step-declined', subject: workflowId,
      details: { stepId: step.id, tool: step.awaiting.tool, summary: step.awaiting.summary },
    });
    return { workflowId, stepId: step.id, approve, status: approve ? 'confirming' : 'declining', summary: step.awaiting.summary };
  }

  /** The workflow's state; another tenant's workflow, or another signed-in user's, is as unknown as a missing one. */
  private async load(tenantId: string, workflowId: string, principal: Principal): Promise<WorkflowState> {
    const loaded = ID.test(workflowId) ? await this.views.load(workflowId, tenantId) : null;
    if (!loaded) throw new ConfirmationRefused('NOT_FOUND', `no workflow ${workflowId}`);
    const state = foldStored(loaded.events);
    // A signed-in user answers only their own questions; a service account answers for its tenant's users.
    if (principal.via === 'jwt' && state.userId !== undefined && state.userId !== principal.userId) throw new ConfirmationRefused('NOT_FOUND', `no workflow ${workflowId}`);
    return state;
  }
}

function awaitingStep(state: WorkflowState): WorkflowState['steps'][string] | undefined {
  return state.status === 'running' ? Object.values(state.steps).find((s) => s.status === 'awaiting-confirmation') : undefined;
}

/** Whether a question of this workflow was answered (confirmed or declined) already. */
function answered(state: WorkflowState): boolean {
  return Object.values(state.steps).some((s) => s.confirmation !== undefined || s.error?.code === 'CONFIRMATION_DECLINED');
}
