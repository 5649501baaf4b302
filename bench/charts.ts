/**
 * Charts of benchmark results: a grouped bar chart described in Vega-Lite,
 * compiled to Vega and rendered to an SVG string headless (Vega's `'none'`
 * renderer needs no browser and no canvas for SVG output).
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Row } from './table.js';

/** One bar: its height, the group it stands in on the x axis, its series (colour) and its panel. */
export interface Bar {
  /** The x-axis group, e.g. a scenario or a concurrency. */
  group: string;
  /** The series, one colour per series, e.g. a library. */
  series: string;
  value: number;
  /** With panels, one small chart per panel side by side, each with its own value axis. */
  panel?: string;
}

/** What to draw: bars grouped on the x axis, coloured by series, optionally in panels. */
export interface GroupedBarChart {
  title: string;
  /** One line, or several. */
  subtitle?: string | readonly string[];
  /** Title of the x axis (the groups). */
  groupTitle: string;
  /** Title of the legend (the series). */
  seriesTitle: string;
  /** Title of the value axis. */
  valueTitle: string;
  /** Title above the panels, when bars have panels. */
  panelTitle?: string;
  bars: readonly Bar[];
  /** d3-format of values on the axis and above the bars; default `,.0f` (12,345). */
  format?: string;
  /** Draws a horizontal reference line at this value (e.g. 1 for ratios to a baseline). */
  referenceLine?: number;
}

/** Pixels per bar and between groups: panels are sized from the number of bars they hold. */
const BAR_WIDTH = 16;
const GROUP_GAP = 14;
const PLOT_HEIGHT = 220;
/** Narrowest plot of a chart without panels, so that its title and legend fit. */
const MIN_WIDTH = 360;

/**
 * The Vega-Lite spec of a grouped bar chart. Groups, series and panels keep
 * the order in which they first appear in `bars`, so a chart reads in the
 * same order as its table.
 *
 * @example
 * const spec = groupedBarSpec({
 *   title: 'Decisions per second', groupTitle: 'scenario', seriesTitle: 'library', valueTitle: 'decisions/s',
 *   bars: [{ group: '1 key', series: 'Tollgate', value: 291_618 }, { group: '1 key', series: 'flexible', value: 1_121_940 }],
 * });
 */
export function groupedBarSpec(chart: GroupedBarChart): TopLevelSpec {
  const format = chart.format ?? ',.0f';
  const series = distinct(chart.bars.map((bar) => bar.series));
  const panels = distinct(chart.bars.map((bar) => bar.panel ?? ''));
  const hasPanels = panels.length > 1 || panels[0] !== '';
  const groupsPerPanel = Math.max(
    1,
    ...panels.map(
      (panel) =>
        distinct(chart.bars.filter((bar) => (bar.panel ?? '') === panel).map((bar) => bar.group)).length,
    ),
  );
  const barsWidth = groupsPerPanel * (series.length * BAR_WIDTH + GROUP_GAP);
  const width = hasPanels ? barsWidth : Math.max(MIN_WIDTH, barsWidth);
  // Each layer carries its own encoding: a reference line must not inherit the bars' x.
  const position = {
    x: {
      field: 'group',
      type: 'nominal',
      sort: null,
      title: chart.groupTitle,
      axis: { labelAngle: 0, labelLimit: 120 },
    },
    xOffset: { field: 'series', type: 'nominal', sort: series },
    y: { field: 'value', type: 'quantitative', title: chart.valueTitle, axis: { format, grid: true } },
  };
  const layers: unknown[] = [
    {
      mark: { type: 'bar' },
      encoding: {
        ...position,
        color: {
          field: 'series',
          type: 'nominal',
          title: chart.seriesTitle,
          scale: { domain: series, scheme: 'tableau10' },
          legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 },
        },
        tooltip: [
          { field: 'series', title: chart.seriesTitle },
          { field: 'group', title: chart.groupTitle },
          { field: 'value', title: chart.valueTitle, format },
        ],
      },
    },
    {
      mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 8, color: '#333' },
      encoding: { ...position, text: { field: 'value', type: 'quantitative', format } },
    },
  ];
  if (chart.referenceLine !== undefined) {
    layers.push({
      mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
      encoding: { y: { datum: chart.referenceLine } },
    });
  }
  const plot = { width, height: PLOT_HEIGHT, layer: layers };
  const values = chart.bars.map((bar) => ({ ...bar, panel: bar.panel ?? '' }));
  const top = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: chart.title,
      ...(chart.subtitle === undefined ? {} : { subtitle: chart.subtitle }),
      anchor: 'start',
    },
    data: { values },
    config: { font: 'sans-serif', view: { stroke: null } },
  };
  const spec = hasPanels
    ? {
        ...top,
        facet: {
          column: { field: 'panel', type: 'nominal', sort: panels, title: chart.panelTitle ?? null },
        },
        spec: plot,
        resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'independent' } },
      }
    : { ...top, ...plot };
  return spec as TopLevelSpec;
}

/** Renders a Vega-Lite spec to an SVG document, headless. */
async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG of a grouped bar chart: {@link groupedBarSpec} rendered by {@link renderSvg}. */
export function groupedBarSvg(chart: GroupedBarChart): Promise<string> {
  return renderSvg(groupedBarSpec(chart));
}

/**
 * The number in a table cell as the benchmarks print it: `291,618` → 291618,
 * `0.89` → 0.89, `1 (sequential)` → 1, `100%` → 100. Undefined for a cell
 * that does not start with a number.
 */
export function cellNumber(cell: string | number | undefined): number | undefined {
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : undefined;
  if (cell === undefined) return undefined;
  const match = /^\s*(-?[\d,]*\.?\d+)/.exec(cell);
  if (match === null) return undefined;
  const value = Number(match[1]!.replaceAll(',', ''));
  return Number.isFinite(value) ? value : undefined;
}

/** The text of a cell, for groups, series and panels. */
function cellText(cell: string | number | undefined): string {
  return cell === undefined ? '' : String(cell);
}

/**
 * Bars from a "long" table, one bar per row: `group`, `series`, `value` and
 * `panel` name its columns. Rows whose value is not a number are left out.
 */
export function barsFromRows(
  rows: readonly Row[],
  columns: { group: string; series: string; value: string; panel?: string },
): Bar[] {
  return rows.flatMap((row) => {
    const value = cellNumber(row[columns.value]);
    if (value === undefined) return [];
    const bar: Bar = { group: cellText(row[columns.group]), series: cellText(row[columns.series]), value };
    if (columns.panel !== undefined) bar.panel = cellText(row[columns.panel]);
    return [bar];
  });
}

/**
 * Bars from a "wide" table, several bars per row: one per entry of `series`
 * (series label → column name), grouped by the `group` column.
 */
export function barsFromColumns(
  rows: readonly Row[],
  columns: { group: string; series: Readonly<Record<string, string>>; panel?: string },
): Bar[] {
  return rows.flatMap((row) =>
    Object.entries(columns.series).flatMap(([series, column]) => {
      const value = cellNumber(row[column]);
      if (value === undefined) return [];
      const bar: Bar = { group: cellText(row[columns.group]), series, value };
      if (columns.panel !== undefined) bar.panel = cellText(row[columns.panel]);
      return [bar];
    }),
  );
}

/** True when every row has every one of `columns`: a chart of a table whose columns changed is skipped. */
export function hasColumns(rows: readonly Row[], columns: readonly string[]): boolean {
  return rows.length > 0 && rows.every((row) => columns.every((column) => column in row));
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}
