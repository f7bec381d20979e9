// trellis-reminders: the reminder service binary.

#include "common/server/run.h"
#include "services/reminders/reminder_service.h"

int main(int argc, char** argv) {
  return trellis::server::RunService(
      argc, argv,
      {.name = "reminders",
       .default_port = 50053,
       .default_metrics_port = 9103,
       .usage = "trellis-reminders: Trellis reminder service (trellis.v1.ReminderService).",
       .build = trellis::reminders::BuildReminderService});
}
