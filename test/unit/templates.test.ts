import { describe, expect, it } from 'vitest';
import { htmlToText } from '../../src/templates/html-to-text.js';
import { lintTemplate } from '../../src/templates/lint.js';
import { TemplateCache } from '../../src/templates/compile-cache.js';
import { compileParts } from '../../src/templates/render.js';
import { variablesOf } from '../../src/templates/variables.js';

describe('template variables', () => {
  it('finds root variables, not helper names or paths relative to an #each item', () => {
    const source = 'Hi {{name}} {{#if vip}}{{code}}{{/if}} {{#each items}}{{title}} {{../currency}}{{/each}} {{{raw}}} {{user.first}} {{@root.region}}';
    expect(variablesOf(source)).toEqual(['code', 'currency', 'items', 'name', 'raw', 'region', 'user', 'vip']);
  });
  it('leaves out the variables Herald provides', () => expect(variablesOf('{{unsubscribe_url}} {{name}}')).toEqual(['name']));
});

describe('template lint', () => {
  it('reports an unclosed block as an error with its part and line', () => {
    const report = lintTemplate({ subject: 'Hi', html: '<p>\n{{#if vip}}\nno close</p>' });
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ field: 'html' });
    expect(report.errors[0]?.message).toMatch(/Expecting/);
  });
  it('warns about links that are not absolute http(s) URLs, and accepts mailto, anchors and templated links', () => {
    const report = lintTemplate({
      subject: 's',
      html: '<a href="/relative">a</a>\n<a href="https://ok.example/x">b</a><a href="mailto:x@y.org">c</a><a href="#top">d</a><img src="{{logo}}"><a href="javascript:alert(1)">e</a>',
      text: 't',
    });
    expect(report.warnings.map((w) => w.message)).toEqual([
      'href="/relative" is not an absolute http(s) URL',
      'href="javascript:alert(1)" is not an absolute http(s) URL',
    ]);
  });
  it('offers a text part generated from the html when there is none', () => {
    const report = lintTemplate({ subject: 'Hi {{name}}', html: '<h1>Hello {{name}}</h1><p>See <a href="https://x.example/o">your order</a>.</p>' });
    expect(report.warnings.some((w) => w.field === 'text')).toBe(true);
    expect(report.suggestedText).toBe('Hello {{name}}\n\nSee your order (https://x.example/o).');
    expect(report.variables).toEqual(['name']);
  });
  it('refuses a template with neither html nor text', () => expect(lintTemplate({ subject: 's' }).errors).toHaveLength(1));
});

describe('rendering', () => {
  it('escapes html but not the subject or text, and keeps the subject on one line', () => {
    const render = compileParts({ subject: 'Order for {{name}}', html: '<p>{{name}}</p>', text: 'Dear {{name}}' });
    expect(render({ name: 'Tom & Jerry\r\nBcc: x@evil.org' })).toEqual({
      subject: 'Order for Tom & Jerry Bcc: x@evil.org',
      html: '<p>Tom &amp; Jerry\r\nBcc: x@evil.org</p>',
      text: 'Dear Tom & Jerry\r\nBcc: x@evil.org',
    });
  });
  it('compiles each cached template once', () => {
    const cache = new TemplateCache(2);
    // A getter on the parts counts how often the cache reads them to compile.
    let compiles = 0;
    const parts = {
      get subject() {
        compiles += 1;
        return 's {{a}}';
      },
      text: 't',
    };
    cache.get('t1:1', parts)({ a: 1 });
    cache.get('t1:1', parts)({ a: 2 });
    expect(compiles).toBe(1);
    cache.get('t2:1', parts);
    cache.get('t3:1', parts);
    cache.get('t1:1', parts);
    expect(compiles).toBe(4);
  });
  it('turns html into readable text', () => {
    expect(htmlToText('<style>p{}</style><p>Hi&nbsp;there</p><ul><li>one</li><li>two</li></ul>Bye<br>now &amp; then')).toBe('Hi there\n\n- one\n- two\n\nBye\nnow & then');
  });
});
