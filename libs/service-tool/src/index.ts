import { Module } from '@nestjs/common';
import { ToolService } from './tool.service';

/** The tool agent. */
@Module({ providers: [ToolService] })
export class ToolModule {}
