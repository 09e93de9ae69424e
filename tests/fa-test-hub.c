/* placeholder: the helper writing the fake hub replaces this file */
#include "fa-test-hub.h"
