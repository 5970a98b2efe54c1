// Names for record enums (shared by the export, the tool and the CDR writer).
#include "store/records.h"

namespace sipedge::store {

std::string dispositionName(Disposition d) {
  switch (d) {
    case Disposition::Answered:
      return "ANSWERED";
    case Disposition::NoAnswer:
      return "NO ANSWER";
    case Disposition::Busy:
      return "BUSY";
    case Disposition::Failed:
      return "FAILED";
    case Disposition::Cancelled:
      return "CANCELLED";
    case Disposition::TimedOut:
      return "TIMEOUT";
  }
  return "FAILED";
}

}  // namespace sipedge::store
