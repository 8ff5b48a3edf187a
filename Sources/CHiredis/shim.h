// hiredis 0.14 (Debian libhiredis-dev): the reply parser (redisReader) and reply objects.
// Only Sources/Redis imports this module; nothing above it sees a pointer.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
