#include "compiler/backend/shared_library.h"

#include <link.h>

namespace attnjit {

std::string loaded_path(void* library, const std::string& fallback) {
  link_map* map = nullptr;
  if (dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name)
    return map->l_name;
  return fallback;
}

}  // namespace attnjit
