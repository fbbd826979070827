import { Module } from '@nestjs/common';
import { ValidatorService } from './validator.service';

export { checkGrounding } from './grounding';

/** The validator agent. */
@Module({ providers: [ValidatorService] })
export class ValidatorModule {}
