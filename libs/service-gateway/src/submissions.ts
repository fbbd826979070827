import { Inject, Injectable } from '@nestjs/common';
import { newId } from '@flotilla/common';
import { Channel, Messages, SubmitRequestV1, Topics } from '@flotilla/contracts';
import { WorkflowViewStore } from '@flotilla/memory';
import { MessageBus, outgoing } from '@flotilla/messaging';
import { BUS } from '@flotilla/platform';
import { workflowIdFor } from '@flotilla/workflow';
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
}

/**
 * Turns a validated request into a `SubmitRequest` on the intake topic — the same contract outside
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
      requestId, tenantId: s.tenantId, question: s.question, sessionId: s.sessionId, userId: s.userId, channel: s.channel, callbackUrl: s.callbackUrl,
    };
    await this.views.recordAccepted({ workflowId, tenantId: s.tenantId, requestId, question: s.question, acceptedAt: new Date().toISOString() });
    await this.bus.publish([outgoing(Topics.intake, Messages.SubmitRequest, requestId, data, { tenantId: s.tenantId, workflowId })]);
    await this.audit.workflowSubmitted({ tenantId: s.tenantId, workflowId, requestId, channel: s.channel });
    return { workflowId, requestId };
  }
}
