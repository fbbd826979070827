import { Module } from '@nestjs/common';
import { ValidatorService } from './validator.service';

export { checkGrounding } from './grounding';
export type { GroundingVerdict } from './grounding';
export { checkAnswerForInjection } from './answer-injection';
export type { AnswerInjectionVerdict } from './answer-injection';
export { validateAnswer } from './validate';
export type { AnswerToValidate, AnswerVerdict, Verdict } from './validate';

/** The validator agent. */
@Module({ providers: [ValidatorService] })
export class ValidatorModule {}
