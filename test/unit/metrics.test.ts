import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../src/lib/metrics.js';

describe('MetricsRegistry', () => {
  it('renders an unlabelled counter at zero before anything is recorded, with HELP and TYPE', () => {
    const metrics = new MetricsRegistry();
    metrics.counter('jobs_total', 'Jobs done');
    expect(metrics.render()).toBe('# HELP jobs_total Jobs done\n# TYPE jobs_total counter\njobs_total 0\n');
  });

  it('keeps one sample per label set and escapes label values and help text', () => {
    const metrics = new MetricsRegistry();
    const sends = metrics.counter('sends_total', 'Sends\nby "outcome" \\ kind', ['outcome']);
    sends.inc({ outcome: 'sent' });
    sends.inc({ outcome: 'sent' }, 2);
    sends.inc({ outcome: 'a "quoted"\nvalue\\' });
    expect(metrics.render().split('\n')).toEqual([
      '# HELP sends_total Sends\\nby "outcome" \\\\ kind',
      '# TYPE sends_total counter',
      'sends_total{outcome="sent"} 3',
      'sends_total{outcome="a \\"quoted\\"\\nvalue\\\\"} 1',
      '',
    ]);
  });

  it('renders histogram buckets cumulatively with +Inf, sum and count', () => {
    const metrics = new MetricsRegistry();
    const latency = metrics.histogram('latency_seconds', 'Latency', [0.1, 1]);
    for (const value of [0.05, 0.1, 0.5, 3]) latency.observe(value);
    expect(metrics.render()).toContain(
      ['latency_seconds_bucket{le="0.1"} 2', 'latency_seconds_bucket{le="1"} 3', 'latency_seconds_bucket{le="+Inf"} 4', 'latency_seconds_sum 3.65', 'latency_seconds_count 4'].join('\n'),
    );
  });

  it('reads tracked gauges at render time and forgets label sets on reset', () => {
    const metrics = new MetricsRegistry();
    let inFlight = 3;
    metrics.gauge('in_flight', 'In flight').track(() => inFlight);
    const rate = metrics.gauge('rate', 'Rate', ['destination']);
    rate.set(60, { destination: 'google' });
    inFlight = 5;
    expect(metrics.render()).toContain('in_flight 5\n');
    rate.reset();
    rate.set(30, { destination: 'yahoo' });
    expect(metrics.render()).not.toContain('google');
  });

  it('returns the same series for the same name, and refuses another kind, other labels or bad names', () => {
    const metrics = new MetricsRegistry();
    const backlog = metrics.gauge('webhook_backlog', 'Backlog');
    expect(metrics.gauge('webhook_backlog', 'Backlog')).toBe(backlog);
    expect(() => metrics.counter('webhook_backlog', 'Backlog')).toThrow(/already registered as a gauge/);
    expect(() => metrics.gauge('webhook_backlog', 'Backlog', ['endpoint'])).toThrow(/already registered/);
    expect(() => metrics.counter('bad-name', 'x')).toThrow(/not a valid metric name/);
    expect(() => metrics.histogram('h', 'x', [1, 1])).toThrow(/ascending/);
    expect(() => metrics.counter('c_total', 'x').inc(undefined, -1)).toThrow(/cannot go down/);
  });
});
