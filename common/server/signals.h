#pragma once

namespace trellis::server {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it creates afterwards; call
// first thing in main, before any thread starts, so WaitForTerminationSignal receives them.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (blocked beforehand) and returns its number.
int WaitForTerminationSignal();

}  // namespace trellis::server
