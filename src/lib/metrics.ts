/**
 * A small in-process metrics registry that renders the Prometheus text exposition format
 * (version 0.0.4): counters, gauges and histograms, each with a fixed set of label names.
 *
 * One registry per process, created by `herald serve` and handed to the engine, the API and
 * whatever else records numbers, through their options — never a module-level singleton, so tests
 * get a fresh registry each. Asking twice for the same name returns the same series (so two
 * components may share one), and asking for it as another kind or with other labels throws.
 *
 * Owns: the series and their text form. Must not: do I/O, or know what Herald measures (the
 * series are declared by the code that records them; see engine/engine-metrics.ts and
 * services/metrics.ts).
 *
 * @example
 * const metrics = new MetricsRegistry();
 * const sends = metrics.counter('herald_sends_total', 'Sends by outcome', ['outcome']);
 * sends.inc({ outcome: 'sent' });
 * metrics.gauge('herald_webhook_backlog', 'Webhook deliveries waiting').set(12);
 * metrics.render(); // "# HELP herald_sends_total Sends by outcome\n# TYPE herald_sends_total counter\n…"
 */

/** Transport latency buckets, in seconds (5 ms … 10 s). */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

export type Labels<L extends string> = Readonly<Record<L, string>>;

type Kind = 'counter' | 'gauge' | 'histogram';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** What every series shares: its name, help, kind, label names and the text of a label set. */
abstract class Series<L extends string> {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly labelNames: readonly L[],
  ) {}

  /** `a="x",b="y"` in declared label order; '' for a series without labels. */
  protected labelText(labels: Labels<L> | undefined): string {
    if (this.labelNames.length === 0 || labels === undefined) return '';
    return this.labelNames.map((name) => `${name}="${escapeLabelValue(labels[name])}"`).join(',');
  }

  protected sample(suffix: string, labelText: string, value: number): string {
    return `${this.name}${suffix}${labelText === '' ? '' : `{${labelText}}`} ${formatValue(value)}`;
  }

  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`, ...this.samples()];
  }

  protected abstract samples(): string[];
}

/** A series of plain values by label set (counters and gauges). */
abstract class ValueSeries<L extends string> extends Series<L> {
  protected readonly values = new Map<string, number>();

  protected samples(): string[] {
    // A series without labels always has its one sample, at zero until something is recorded.
    if (this.labelNames.length === 0 && this.values.size === 0) return [this.sample('', '', 0)];
    return [...this.values].map(([labelText, value]) => this.sample('', labelText, value));
  }
}

/** A value that only goes up (since the process started). */
export class Counter<L extends string = never> extends ValueSeries<L> {
  inc(labels?: Labels<L>, amount = 1): void {
    if (amount < 0) throw new RangeError(`${this.name}: a counter cannot go down`);
    const key = this.labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + amount);
  }
}

/** A value that goes up and down; set directly or read at render time from `track`. */
export class Gauge<L extends string = never> extends ValueSeries<L> {
  #read: (() => number) | null = null;

  set(value: number, labels?: Labels<L>): void {
    this.values.set(this.labelText(labels), value);
  }

  /** Reads the (unlabelled) value when the registry renders, e.g. an engine's in-flight count. */
  track(read: () => number): void {
    this.#read = read;
  }

  /** Forgets every label set (before setting the current ones, when some may have gone away). */
  reset(): void {
    this.values.clear();
  }

  protected override samples(): string[] {
    if (this.#read) return [this.sample('', '', this.#read())];
    return super.samples();
  }
}

interface HistogramCell {
  /** Observations per bucket (not cumulative), the last for values above every bound. */
  buckets: number[];
  sum: number;
  count: number;
}

/** Observations counted into buckets by upper bound, with their sum and count. */
export class Histogram<L extends string = never> extends Series<L> {
  readonly #cells = new Map<string, HistogramCell>();

  constructor(name: string, help: string, labelNames: readonly L[], readonly bounds: readonly number[]) {
    super(name, help, 'histogram', labelNames);
  }

  observe(value: number, labels?: Labels<L>): void {
    const key = this.labelText(labels);
    let cell = this.#cells.get(key);
    if (!cell) {
      cell = { buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.#cells.set(key, cell);
    }
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i += 1;
    cell.buckets[i] = (cell.buckets[i] ?? 0) + 1;
    cell.sum += value;
    cell.count += 1;
  }

  protected samples(): string[] {
    const cells = [...this.#cells];
    if (cells.length === 0 && this.labelNames.length === 0) {
      cells.push(['', { buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }]);
    }
    const lines: string[] = [];
    for (const [labelText, cell] of cells) {
      const prefix = labelText === '' ? '' : `${labelText},`;
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += cell.buckets[i] ?? 0;
        lines.push(this.sample('_bucket', `${prefix}le="${formatValue(bound)}"`, cumulative));
      });
      lines.push(this.sample('_bucket', `${prefix}le="+Inf"`, cell.count));
      lines.push(this.sample('_sum', labelText, cell.sum));
      lines.push(this.sample('_count', labelText, cell.count));
    }
    return lines;
  }
}

export class MetricsRegistry {
  readonly #series = new Map<string, Series<string>>();

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.#register(name, 'counter', labelNames, () => new Counter<L>(name, help, 'counter', labelNames));
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.#register(name, 'gauge', labelNames, () => new Gauge<L>(name, help, 'gauge', labelNames));
  }

  /** `buckets`: ascending upper bounds; `+Inf` is added. */
  histogram<L extends string = never>(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []): Histogram<L> {
    if (buckets.length === 0 || buckets.some((b, i) => i > 0 && b <= (buckets[i - 1] as number))) {
      throw new RangeError(`${name}: buckets must be ascending and not empty`);
    }
    return this.#register(name, 'histogram', labelNames, () => new Histogram<L>(name, help, labelNames, [...buckets]));
  }

  #register<S extends Series<string>>(name: string, kind: Kind, labelNames: readonly string[], create: () => S): S {
    const existing = this.#series.get(name);
    if (existing) {
      if (existing.kind !== kind || existing.labelNames.join(',') !== labelNames.join(',')) {
        throw new TypeError(`metric ${name} is already registered as a ${existing.kind} with labels [${existing.labelNames.join(', ')}]`);
      }
      return existing as S;
    }
    if (!METRIC_NAME.test(name)) throw new TypeError(`"${name}" is not a valid metric name`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label === 'le') throw new TypeError(`${name}: "${label}" is not a valid label name`);
    }
    const series = create();
    this.#series.set(name, series);
    return series;
  }

  /** Every series in registration order, as Prometheus text (ends with a newline). */
  render(): string {
    const lines: string[] = [];
    for (const series of this.#series.values()) lines.push(...series.render());
    return `${lines.join('\n')}\n`;
  }
}

/** The content type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
