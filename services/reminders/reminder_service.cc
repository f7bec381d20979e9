#include "services/reminders/reminder_service.h"

namespace trellis::reminders {

server::ServiceParts BuildReminderService(const server::ServiceEnv& env) {
  server::ServiceParts parts;
  parts.services.push_back(std::make_unique<ReminderServiceHandler>(env));
  parts.health_names.push_back("trellis.v1.ReminderService");
  return parts;
}

}  // namespace trellis::reminders
