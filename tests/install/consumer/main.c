/* An outside program built against an installed libtshm. */
#include <stdio.h>
#include <string.h>
#include <tshm.h>

int
main(void)
{
        tshm_client *c;
        int rv;

        if (tshm_version() != TSHM_VERSION_HEX) {
                fprintf(stderr, "header %#x, library %#x\n", TSHM_VERSION_HEX, tshm_version());
                return 1;
        }
        rv = tshm_connect("/nonexistent/tshm.sock", &c);
        if (rv != TSHM_ENODAEMON) {
                fprintf(stderr, "expected ENODAEMON, got %s\n", tshm_err_name(rv));
                return 1;
        }
        printf("consumer: libtshm %s linked; connect says: %s\n", tshm_version_string(),
               tshm_strerror(rv));
        return 0;
}
