/* hello.c - the README's example: create a segment, write it, read it back
 * through a second, read-only open (as another process would). */
#include <stdio.h>
#include <tshm.h>

int
main(void)
{
        tshm_client *c;
        tshm_seg *w, *r;
        uint64_t shape[2] = {2, 3};
        int rv;

        if ((rv = tshm_connect(NULL, &c)) < 0) { /* $TSHM_SOCKET or the default */
                fprintf(stderr, "connect: %s\n", tshm_strerror(rv));
                return 1;
        }
        rv = tshm_create(c, "hello", TSHM_DTYPE_FLOAT32, 2, shape, 0600, 0, &w);
        if (rv < 0) {
                fprintf(stderr, "create: %s: %s\n", tshm_strerror(rv), tshm_errmsg(c));
                tshm_disconnect(c);
                return 1;
        }
        float *data = tshm_seg_data(w);
        for (int i = 0; i < 6; i++) {
                data[i] = (float)i / 2;
        }
        if ((rv = tshm_open(c, "hello", TSHM_OPEN_RDONLY, &r)) == 0) {
                const float *seen = tshm_seg_data(r);
                printf("hello: %s %zu-d, element [1][2] = %g\n", tshm_dtype_name(tshm_seg_dtype(r)),
                       tshm_seg_ndim(r), seen[5]);
                tshm_close(r);
        }
        tshm_close(w);
        tshm_unlink(c, "hello");
        tshm_disconnect(c);
        return rv < 0 ? 1 : 0;
}
