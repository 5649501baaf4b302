/** Minimal CloudFormation template types and intrinsic function helpers. */

/** Any CloudFormation value: literals, lists, maps and intrinsic functions. */
export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };

/** One resource. */
export interface CfnResource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  DeletionPolicy?: 'Retain' | 'Delete' | 'Snapshot' | 'RetainExceptOnCreate';
  UpdateReplacePolicy?: 'Retain' | 'Delete' | 'Snapshot';
  Properties: { [key: string]: CfnValue };
}

/** One template parameter. */
export interface CfnParameter {
  Type: 'String' | 'Number';
  Description: string;
  Default?: string | number;
  AllowedValues?: (string | number)[];
  AllowedPattern?: string;
  MinValue?: number;
  MaxValue?: number;
}

/** One output. */
export interface CfnOutput {
  Description: string;
  Value: CfnValue;
  Condition?: string;
  Export?: { Name: CfnValue };
}

/** A whole template, as `buildTemplate` returns it. */
export interface CloudFormationTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Parameters: Record<string, CfnParameter>;
  Conditions: Record<string, CfnValue>;
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, CfnOutput>;
}

/** `{ Ref: name }` */
export function ref(name: string): CfnValue {
  return { Ref: name };
}

/** `{ 'Fn::GetAtt': [resource, attribute] }` */
export function getAtt(resource: string, attribute: string): CfnValue {
  return { 'Fn::GetAtt': [resource, attribute] };
}

/** `{ 'Fn::Sub': text }` */
export function sub(text: string): CfnValue {
  return { 'Fn::Sub': text };
}
