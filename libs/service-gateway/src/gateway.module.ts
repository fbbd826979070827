import { Module } from '@nestjs/common';
import { FlotillaConfig } from '@flotilla/config';
import { createAuditLog, createConversationStore, createDeadLetterStore, createWorkflowViewStore } from '@flotilla/memory';
import { CONFIG } from '@flotilla/platform';
import { Admission } from './admission';
import { ChatServer } from './chat.server';
import { LiveUpdates } from './live-updates';
import { WorkflowProjector } from './projector';
import { Submissions } from './submissions';
import { CONVERSATIONS, VIEW_STORE } from './tokens';
import { UsageController, WorkflowsController } from './workflows.controller';
import { ChatPageController } from './chat-page.controller';
import { PreferencesController } from './preferences.controller';
import { AuditTrail } from './audit-trail';
import { DeadLetterController } from './dlq.controller';
import { DeadLetterProjector } from './dlq.projector';
import { AUDIT_LOG, DEAD_LETTERS } from './review.tokens';

/** The edge: WebSocket chat, REST, and the workflow read model. Stateless; any replica serves any client. */
@Module({
  controllers: [WorkflowsController, UsageController, PreferencesController, ChatPageController, DeadLetterController],
  providers: [
    {
      provide: VIEW_STORE,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createWorkflowViewStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: CONVERSATIONS,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createConversationStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: DEAD_LETTERS,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const store = createDeadLetterStore(config);
        await store.init();
        return store;
      },
    },
    {
      provide: AUDIT_LOG,
      inject: [CONFIG],
      useFactory: async (config: FlotillaConfig) => {
        const log = createAuditLog(config);
        await log.init();
        return log;
      },
    },
    AuditTrail,
    DeadLetterProjector,
    Admission,
    Submissions,
    LiveUpdates,
    WorkflowProjector,
    ChatServer,
  ],
})
export class GatewayModule {}
