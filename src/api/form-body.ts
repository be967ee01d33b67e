/**
 * Small HTML-form bodies (`application/x-www-form-urlencoded` and `multipart/form-data`) parsed to
 * a flat map of text fields, for the public form endpoints (one-click unsubscribe). Registered
 * per route scope, with a tight size limit: these bodies hold a field or two, never files.
 */
import busboy from 'busboy';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError } from '../core/errors.js';

/** A parsed form: field name → its last value. */
export type FormFields = Record<string, string>;

const MAX_FIELDS = 20;

function badForm(reason: string): HeraldError {
  return new HeraldError('validation_failed', { field: 'body', reason });
}

function parseMultipart(headers: FastifyRequest['headers'], body: Buffer): Promise<FormFields> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: headers as Record<string, string>, limits: { files: 0, fields: MAX_FIELDS, fieldSize: body.length } });
    } catch (error) {
      reject(badForm(`not a multipart form: ${(error as Error).message}`));
      return;
    }
    const fields: FormFields = Object.create(null) as FormFields;
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('close', () => resolve(fields));
    parser.on('error', (error: Error) => reject(badForm(`not a multipart form: ${error.message}`)));
    parser.end(body);
  });
}

/** Makes the scope parse both form encodings into `FormFields`, refusing bodies over `limit` bytes. */
export function acceptForms(app: FastifyInstance, limit: number): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: limit }, (_request, body, done) => {
    const fields: FormFields = Object.create(null) as FormFields;
    for (const [name, value] of new URLSearchParams(String(body))) fields[name] = value;
    done(null, fields);
  });
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: limit }, (request, body, done) => {
    parseMultipart(request.headers, body as Buffer).then(
      (fields) => done(null, fields),
      (error: Error) => done(error, undefined),
    );
  });
}

/** A text field of a parsed form body; undefined when the body is not a form or lacks it. */
export function formField(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const value: unknown = Object.getOwnPropertyDescriptor(body, name)?.value;
  return typeof value === 'string' ? value : undefined;
}
