import { BadRequestException, INestApplication, ValidationError, ValidationPipe } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { FieldError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { exceedsDepth, MAX_JSON_DEPTH } from '@flotilla/contracts';

function flatten(errors: ValidationError[], prefix = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, reasons: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Builds the 400 body every validation failure gets: which fields, and why. */
export function validationFailed(fields: FieldError[]): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'validation failed', fields });
}

/**
 * The gateway's HTTP edge: JSON bodies up to MAX_REQUEST_BYTES (413 beyond), malformed JSON as a
 * 400, field-level validation errors, and the OpenAPI document at /docs (JSON at /docs-json).
 */
export function configureGatewayHttp(app: INestApplication, config: FlotillaConfig): void {
  const express = app as NestExpressApplication;
  express.useBodyParser('json', { limit: config.MAX_REQUEST_BYTES });
  // Deep nesting is refused before any validator recurses into it.
  express.use((req: Request, res: Response, next: NextFunction) => {
    if (req.body !== undefined && exceedsDepth(req.body, MAX_JSON_DEPTH)) {
      res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'validation failed', fields: [{ field: 'body', reasons: [`nested deeper than ${MAX_JSON_DEPTH} levels`] }] });
      return;
    }
    next();
  });
  express.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (!err) return next();
    if (err.type === 'entity.too.large' || err.status === 413) {
      res.status(413).json({ statusCode: 413, error: 'Payload Too Large', message: `request body exceeds ${config.MAX_REQUEST_BYTES} bytes` });
      return;
    }
    if (err.type === 'entity.parse.failed') {
      res.status(400).json({ statusCode: 400, error: 'Bad Request', message: `malformed JSON: ${err.message}`, fields: [{ field: 'body', reasons: ['must be valid JSON'] }] });
      return;
    }
    const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
    res.status(status).json({ statusCode: status, error: status < 500 ? 'Bad Request' : 'Internal Server Error', message: status < 500 ? err.message : 'internal error' });
  });
  app.useGlobalPipes(new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => validationFailed(flatten(errors)),
  }));
  const document = SwaggerModule.createDocument(app, new DocumentBuilder()
    .setTitle('Flotilla gateway')
    .setDescription('Submit questions as workflows and inspect them. Chat clients use the WebSocket protocol at /v1/chat (see README).')
    .setVersion('1')
    // Credentials (docs/adr/0008): a JWT or an API key as a bearer token, or an API key in X-Api-Key.
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A JWT (HS256 or RS256) or an API key (flk_…).' })
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'An API key (flk_…).' }, 'api-key')
    .addSecurityRequirements('bearer')
    .build());
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
