/* Program name and version, recorded in every file's created_by attribute. */
#ifndef RP_VERSION_H
#define RP_VERSION_H
#define RP_PROGRAM "refine-pipeline"
#define RP_VERSION "0.1.0"
#endif
