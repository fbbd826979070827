import { Module } from '@nestjs/common';
import { FlotillaConfig } from '@flotilla/config';
import { createConversationStore, createWorkflowViewStore } from '@flotilla/memory';
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

/** The edge: WebSocket chat, REST, and the workflow read model. Stateless; any replica serves any client. */
@Module({
  controllers: [WorkflowsController, UsageController, PreferencesController, ChatPageController],
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
    Admission,
    Submissions,
    LiveUpdates,
    WorkflowProjector,
    ChatServer,
  ],
})
export class GatewayModule {}
