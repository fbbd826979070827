import { Inject, Injectable } from '@nestjs/common';
import { newId } from '@flotilla/common';
import { Channel, laneOf, Messages, SubmitRequestV1, Topics } from '@flotilla/contracts';
import { WorkflowViewStore } from '@flotilla/memory';
import { MessageBus, outgoing } from '@flotilla/messaging';
import { BUS } from '@flotilla/platform';
import { workflowIdFor } from '@flotilla/workflow';
import { currentActor } from './actor-context';
import { AuditTrail } from './audit-trail';
import { VIEW_STORE } from './tokens';

export interface Submission {
  tenantId: string;
  question: string;
  channel: Channel;
  requestId?: string;
  sessionId?: string;
  userId?: string;
  callbackUrl?: string;
  /** The workflow's deadline from acceptance, in ms. */
  timeoutMs?: number;
  /** Who submitted it (the principal's subject), for the audit log. */
  actor?: string;
}

/**
 * Turns a validated request into a `SubmitRequest` on its lane's intake topic (chat: interactive;
 * REST: the public, batch one) — the same contract outside
 * systems publish — so chat, REST and intake all start workflows the same way. The workflow id is
 * derived from tenant and request id: submitting the same request twice yields one workflow.
 */
@Injectable()
export class Submissions {
  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(VIEW_STORE) private readonly views: WorkflowViewStore,
    private readonly audit: AuditTrail,
  ) {}

  workflowIdOf(tenantId: string, requestId: string): string {
    return workflowIdFor(tenantId, requestId);
  }

  async submit(s: Submission): Promise<{ workflowId: string; requestId: string }> {
    const requestId = s.requestId ?? newId('req');
    const workflowId = workflowIdFor(s.tenantId, requestId);
    const data: SubmitRequestV1 = {
      requestId, tenantId: s.tenantId, question: s.question, sessionId: s.sessionId, userId: s.userId, channel: s.channel, callbackUrl: s.callbackUrl, timeoutMs: s.timeoutMs,
    };
    await this.views.recordAccepted({ workflowId, tenantId: s.tenantId, requestId, question: s.question, acceptedAt: new Date().toISOString() });
    // Chat is the interactive lane and has an intake topic of its own; REST and outside systems share the batch intake.
    // Chat → the interactive intake; REST → the gateway's own batch intake (the public intake topic is
    // for outside publishers, who authenticate with an API key header).
    const intake = laneOf(s.channel) === 'interactive' ? Topics.interactiveIntake : Topics.apiIntake;
    await this.bus.publish([outgoing(intake, Messages.SubmitRequest, requestId, data, { tenantId: s.tenantId, workflowId })]);
    await this.audit.workflowSubmitted({ tenantId: s.tenantId, workflowId, requestId, channel: s.channel, actor: s.actor ?? currentActor() });
    return { workflowId, requestId };
  }
}
