import { writeFile } from 'node:fs/promises';
import { buildTemplate, type CloudFormationTemplate } from '@tollgate/dynamodb';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import type { CliContext } from '../context.js';
import { Output } from '../output.js';
import { type TemplateFlags, templateOptionsFrom, withTemplateFlags } from './template-options.js';

interface TemplateCommandOptions extends TemplateFlags {
  format: 'yaml' | 'json';
  output?: string;
}

/** Renders a template as CloudFormation YAML (or JSON). */
export function renderTemplate(template: CloudFormationTemplate, format: 'yaml' | 'json' = 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(template, null, 2)}\n`;
  return stringify(template, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** `tollgate template`: the production CloudFormation template. */
export function templateCommand(context: CliContext): Command {
  return withTemplateFlags(
    new Command('template')
      .description(
        'print the CloudFormation template: table, auto scaling, aggregator Lambda with DLQ, alarms, IAM policies',
      )
      .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
      .option('-o, --output <file>', 'write to a file instead of stdout'),
  ).action(async (options: TemplateCommandOptions) => {
    const text = renderTemplate(buildTemplate(templateOptionsFrom(options)), options.format);
    const output = new Output(context.streams, false);
    if (options.output === undefined) output.raw(text);
    else {
      await writeFile(options.output, text);
      output.note(`Wrote ${options.output}`);
    }
  });
}
