/*  service: see service.h.
*/
#include "service.h"

const char *
zo_health_name (zo_health_t health)
{
    switch (health) {
        case ZO_HEALTH_UP:       return "up";
        case ZO_HEALTH_DEGRADED: return "degraded";
        default:                 return "down";
    }
}
