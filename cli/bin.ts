#!/usr/bin/env node
// The installed `ghl-csv-purge` command (package.json "bin"): the compiled CLI on the user's Node.
import { main } from "./main.ts";

process.exitCode = await main(process.argv);
