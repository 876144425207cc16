/*
 * TESTS ONLY, never shipped: a stand-in bcryptprimitives.dll for Wine 8
 * (Debian 12), which lacks it. Rust's std (1.78+) gets its random numbers
 * (HashMap keys) from bcryptprimitives!ProcessPrng, so a Rust .exe does not
 * start under that Wine without this. ProcessPrng here asks RtlGenRandom
 * (advapi32!SystemFunction036), which Wine has.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll prng-shim.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
