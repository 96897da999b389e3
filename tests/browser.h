/* Headless Chromium for the tests that check a report renders (Debian's chromium; .ci/run installs
 * it): the DOM after the page's scripts ran. */
#ifndef RP_TEST_BROWSER_H
#define RP_TEST_BROWSER_H

/* The chromium binary, or NULL when none is installed (the caller skips, saying so). */
const char *browser_find(void);
/* Loads file://html and returns the serialised DOM (malloc'd; NULL if chromium failed). */
char *browser_dump_dom(const char *chromium, const char *html);

#endif
