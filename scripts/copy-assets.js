// Copies the non-TypeScript files the compiled program reads (SQL migrations) from src/ to dist/.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function copyDirs(from, to) {
  for (const entry of readdirSync(from)) {
    const source = join(from, entry);
    if (!statSync(source).isDirectory()) continue;
    if (entry === 'migrations') cpSync(source, join(to, entry), { recursive: true });
    else copyDirs(source, join(to, entry));
  }
}

copyDirs('src', 'dist');
