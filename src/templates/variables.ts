/**
 * Which variables a template reads from its data: walks the Handlebars AST and collects the
 * first segment of every path resolved against the root context. Paths inside `#each` / `#with`
 * are relative to the block's own context, so only `../x` and `@root.x` there count as root
 * variables. Helper names and Herald's own variables (`unsubscribe_url`, …) are left out.
 */
import Handlebars from 'handlebars';

type Node = hbs.AST.Node;

/** Variables Herald fills in for every recipient; templates may use them without passing them. */
export const PLATFORM_VARIABLES: ReadonlySet<string> = new Set(['unsubscribe_url', 'email', 'message_id']);

const BUILTIN_HELPERS = new Set(['if', 'unless', 'each', 'with', 'lookup', 'log']);
const CONTEXT_CHANGING = new Set(['each', 'with']);

function pathRoot(path: hbs.AST.PathExpression, depth: number): string | null {
  if (path.data) return path.parts[0] === 'root' && path.parts.length > 1 ? (path.parts[1] ?? null) : null;
  if (path.original === 'this' || path.original === '.') return null;
  if (path.depth >= depth && path.parts.length > 0) return path.parts[0] ?? null;
  return null;
}

function walk(node: Node | undefined | null, depth: number, out: Set<string>): void {
  if (!node) return;
  switch (node.type) {
    case 'Program':
      for (const statement of (node as hbs.AST.Program).body) walk(statement, depth, out);
      return;
    case 'MustacheStatement':
    case 'SubExpression':
    case 'BlockStatement': {
      const n = node as hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;
      const callee = n.path as hbs.AST.PathExpression;
      const isHelperCall = n.params.length > 0 || (n.hash?.pairs.length ?? 0) > 0 || node.type === 'BlockStatement';
      if (callee.type === 'PathExpression' && !(isHelperCall && BUILTIN_HELPERS.has(callee.original))) {
        if (!isHelperCall || node.type === 'BlockStatement') {
          const root = pathRoot(callee, depth);
          if (root !== null) out.add(root);
        }
      }
      for (const param of n.params) walk(param as Node, depth, out);
      for (const pair of n.hash?.pairs ?? []) walk(pair.value as Node, depth, out);
      if (node.type === 'BlockStatement') {
        const block = node as hbs.AST.BlockStatement;
        const inner = CONTEXT_CHANGING.has(callee.original) ? depth + 1 : depth;
        walk(block.program, inner, out);
        walk(block.inverse, depth, out);
      }
      return;
    }
    case 'PathExpression': {
      const root = pathRoot(node as hbs.AST.PathExpression, depth);
      if (root !== null) out.add(root);
      return;
    }
    default:
      return;
  }
}

/** Root variable names a template source uses, sorted; throws Handlebars' parse error on bad syntax. */
export function variablesOf(source: string): string[] {
  const out = new Set<string>();
  walk(Handlebars.parse(source), 0, out);
  return [...out].filter((name) => !PLATFORM_VARIABLES.has(name)).sort();
}
