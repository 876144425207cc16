/* TEST ONLY, never shipped: Debian 12's Wine 8 lacks bcryptprimitives.dll,
 * whose ProcessPrng Rust's standard library on Windows calls (Rust 1.78+),
 * so an unmodified zkserver.exe does not start under it. This shim, named
 * bcryptprimitives.dll and put beside the exe in a test prefix, answers
 * ProcessPrng with RtlGenRandom (advapi32's SystemFunction036).
 * Build: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll prng-shim.c -ladvapi32 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
